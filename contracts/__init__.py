"""What is generated from the domains' data contracts (`domains/<d>.yaml`, read by platform_model.domain)."""
