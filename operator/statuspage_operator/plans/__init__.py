"""Plans: what each kind's status, notices and next edge should be, decided without I/O.

Reconciliation is gather -> plan -> write. control/ gathers (the parsed spec, the status as
recorded, the verdict on references, the neighbours and the component view from its memory), calls
one `plan_*` here with `now`, and writes the plan's status and notices through its writer. A plan
is a pure function of immutable inputs: no client, no asyncio, no clock, no logging, no metrics, so
the rules are tested with a fixed `now` by the hundred, and control/ keeps only the order of writes.

A package of its own between control and k8s, not domain/: plans speak the wire format (status
dicts, condition reasons, notices with Event names), which is api/'s, and domain/ stays below api.
"""
