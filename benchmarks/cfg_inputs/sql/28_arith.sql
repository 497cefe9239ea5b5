SELECT product_id, (price - cost) / price * 100 AS margin_pct, price * 1.19 AS gross_price FROM catalog WHERE price > 0.01;
