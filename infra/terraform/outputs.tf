# The first ten are docs/aws.md's ("AWS deployment"); `whp ... --backend aws --outputs FILE` reads
# them from `terraform output -json`.

output "api_url" {
  description = "Invoke URL of the API stage; webhooks go to <api_url>/webhooks/{source}."
  value       = local.api_url
}

output "function_names" {
  description = "Function names by role: ingest, router, delivery, rotation."
  value       = { for k, f in aws_lambda_function.this : k => f.function_name }
}

output "table_name" {
  description = "The DynamoDB table."
  value       = aws_dynamodb_table.events.name
}

output "event_bus_name" {
  description = "The EventBridge bus the router puts routed events on."
  value       = aws_cloudwatch_event_bus.this.name
}

output "ingest_queue_url" {
  description = "The queue between ingest and the router."
  value       = aws_sqs_queue.ingest.url
}

output "destination_queue_urls" {
  description = "Queue URL of each destination, by destination name."
  value       = { for k, q in aws_sqs_queue.destination : k => q.url }
}

output "destination_dlq_urls" {
  description = "Dead-letter queue URL of each destination, by destination name."
  value       = { for k, q in aws_sqs_queue.destination_dlq : k => q.url }
}

output "secret_ids" {
  description = "ARN of each secret the module created, by the NAME of its aws-sm:NAME reference (put the values there); aws-sm:arn:... references are not listed."
  value       = { for k, s in aws_secretsmanager_secret.this : k => s.arn }
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies; subscribe to it."
  value       = aws_sns_topic.alarms.arn
}

output "dashboard_name" {
  description = "The CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "resource_prefix" {
  description = "wh-<environment_suffix>: the start of every resource name (WHP_PREFIX)."
  value       = local.prefix
}

output "bodies_bucket_name" {
  description = "The bucket holding bodies too large for a table item."
  value       = aws_s3_bucket.bodies.bucket
}

output "ingest_dlq_url" {
  description = "Dead-letter queue of the ingest queue (events the router could not process)."
  value       = aws_sqs_queue.ingest_dlq.url
}

output "kms_key_arn" {
  description = "The customer-managed key encrypting the deployment's data."
  value       = aws_kms_key.this.arn
}
