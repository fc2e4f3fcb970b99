"""Test doubles that live at the transport boundary (local servers), never inside the product code."""
