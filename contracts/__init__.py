"""The orders domain's data contracts (`contracts/orders.yaml`) and the tools generated from them."""
