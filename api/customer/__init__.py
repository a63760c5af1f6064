"""The customer's side of closing the loop: the signed links of the
"is your request solved?" mail."""
