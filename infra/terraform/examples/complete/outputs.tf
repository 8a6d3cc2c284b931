# Every output of the module, passed through: `terraform output -json > outputs.json` is what
# `whp ... --backend aws --outputs outputs.json` reads.

output "api_url" {
  description = "Invoke URL of the API stage; webhooks go to <api_url>/webhooks/{source}."
  value       = module.whp.api_url
}

output "function_names" {
  description = "Function names by role: ingest, router, delivery, rotation."
  value       = module.whp.function_names
}

output "table_name" {
  description = "The DynamoDB table."
  value       = module.whp.table_name
}

output "event_bus_name" {
  description = "The EventBridge bus."
  value       = module.whp.event_bus_name
}

output "ingest_queue_url" {
  description = "The queue between ingest and the router."
  value       = module.whp.ingest_queue_url
}

output "destination_queue_urls" {
  description = "Queue URL of each destination."
  value       = module.whp.destination_queue_urls
}

output "destination_dlq_urls" {
  description = "Dead-letter queue URL of each destination."
  value       = module.whp.destination_dlq_urls
}

output "secret_ids" {
  description = "ARN of each created secret by its aws-sm: NAME."
  value       = module.whp.secret_ids
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms."
  value       = module.whp.alarm_topic_arn
}

output "dashboard_name" {
  description = "The CloudWatch dashboard."
  value       = module.whp.dashboard_name
}

output "resource_prefix" {
  description = "wh-<environment_suffix>."
  value       = module.whp.resource_prefix
}

output "bodies_bucket_name" {
  description = "The bucket of large bodies."
  value       = module.whp.bodies_bucket_name
}

output "ingest_dlq_url" {
  description = "Dead-letter queue of the ingest queue."
  value       = module.whp.ingest_dlq_url
}

output "kms_key_arn" {
  description = "The deployment's KMS key."
  value       = module.whp.kms_key_arn
}
