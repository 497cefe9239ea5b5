SELECT "Order ID", "Customer Name", total FROM "Legacy Orders" WHERE total <> 0.0 ORDER BY "Order ID";
