"""Pure ticket logic: enums, state, the lifecycle table, rules and due times.

No I/O and no clock: the ticket workflow runs this inside Temporal's sandbox.
"""
