select distinct city from addresses where country = 'Germany' and postal_code is not null order by city asc
