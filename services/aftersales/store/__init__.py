"""SQL for the aftersales schema: the orders replica (`orders`) and cases (`cases`)."""
