"""A customer's history: every ticket and survey response of one address
within the caller's reach."""
