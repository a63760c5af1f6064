"""How tickets are born without a person: survey webhooks, web forms, inbound email."""
