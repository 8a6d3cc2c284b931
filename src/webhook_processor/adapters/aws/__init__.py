"""The AWS runtime's adapters: the only modules that import boto3 (docs/aws.md is their layout).

clients      boto3 clients, one configuration
items        the table's item shapes (pure)
dynamodb     the event store and the hand-off to the ingest queue
records      what the router and delivery functions record
operations   ports.Operations on the table and queues
sqs          sending, visibility-timeout backoff, DLQ redrive
eventbridge  PutEvents of routed events
secrets      `aws-sm:` references
names        resource names, as the Terraform module makes them (pure: no boto3)
"""
