SELECT name, department, salary FROM employees WHERE department IN ('Sales', 'Marketing', 'Support') AND salary BETWEEN 40000 AND 90000;
