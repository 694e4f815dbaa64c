"""Keys, certificates, the partner trust store, and the XML-DSig profile (sign and verify)."""
