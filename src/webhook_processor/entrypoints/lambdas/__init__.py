"""The Lambda handlers of the AWS runtime (docs/aws.md, "Handlers"): `ingest`, `router`,
`delivery` and `rotation`, each a `handler(event, context)` over the core. Importing one loads
nothing heavy (no boto3, pydantic, yaml, powertools): the container is set up at the first
invocation (common.py)."""
