"""Message models, their XML mapping and their schemas."""
