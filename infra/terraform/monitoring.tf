# Alarms to one KMS-encrypted SNS topic, and a dashboard with the views of the local dashboard:
# what arrives, what is queued, what is dead, what fails.

resource "aws_sns_topic" "alarms" {
  name              = local.names.alarm_topic
  kms_master_key_id = aws_kms_key.this.id
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alarm_emails)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

locals {
  alarm_actions = [aws_sns_topic.alarms.arn]
  dlqs = merge(
    { ingest = aws_sqs_queue.ingest_dlq.name, lambda = aws_sqs_queue.lambda_dlq.name, events = aws_sqs_queue.events_dlq.name },
    { for k, q in aws_sqs_queue.destination_dlq : "d-${local.dest_fit[k]}" => q.name },
  )
  work_queues = merge(
    { ingest = { name = aws_sqs_queue.ingest.name, threshold = var.alarm_thresholds.ingest_oldest_seconds } },
    { for k, q in aws_sqs_queue.destination : "d-${local.dest_fit[k]}" => { name = q.name, threshold = var.alarm_thresholds.destination_oldest_seconds } },
  )
  api_dimensions = local.rest ? { ApiName = local.names.api, Stage = var.stage_name } : { ApiId = try(aws_apigatewayv2_api.this[0].id, ""), Stage = "$default" }
}

# A message in a DLQ is a delivery that is dead (or an event that could not be routed).
resource "aws_cloudwatch_metric_alarm" "dlq_depth" {
  for_each = local.dlqs

  alarm_name          = "${local.prefix}-dlq-${each.key}"
  alarm_description   = "Messages are waiting in ${each.value}: redrive them (whp dlq redrive --backend aws) once the cause is fixed."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "oldest_message" {
  for_each = local.work_queues

  alarm_name          = "${local.prefix}-age-${each.key}"
  alarm_description   = "The oldest message of ${each.value.name} is older than ${each.value.threshold} s: its consumer is paused, failing or too slow."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = each.value.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Also the alarm CodeDeploy watches during a canary: it rolls back when this fires.
resource "aws_cloudwatch_metric_alarm" "function_errors" {
  for_each = local.function_names

  alarm_name          = "${each.value}-errors"
  alarm_description   = "The ${each.key} function failed (an unhandled error, a timeout or a crash)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "function_throttles" {
  for_each = local.function_names

  alarm_name          = "${each.value}-throttles"
  alarm_description   = "The ${each.key} function was throttled: raise its reserved concurrency or the account limit."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  alarm_name          = "${local.prefix}-api-5xx"
  alarm_description   = "The API answered 5XX: senders will retry, but webhooks are not being stored."
  namespace           = "AWS/ApiGateway"
  metric_name         = local.rest ? "5XXError" : "5xx"
  dimensions          = local.api_dimensions
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "api_latency" {
  alarm_name          = "${local.prefix}-api-p99"
  alarm_description   = "The API's p99 latency is above ${var.alarm_thresholds.api_p99_latency_ms} ms: providers time out and retry."
  namespace           = "AWS/ApiGateway"
  metric_name         = "Latency"
  dimensions          = local.api_dimensions
  extended_statistic  = "p99"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_thresholds.api_p99_latency_ms
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "rule_failures" {
  for_each = local.route_pattern

  alarm_name          = "${local.rule_names[each.key]}-failed"
  alarm_description   = "EventBridge could not deliver route ${each.key}'s events to its queue (they go to ${local.names.events_dlq})."
  namespace           = "AWS/Events"
  metric_name         = "FailedInvocations"
  dimensions          = { EventBusName = local.names.bus, RuleName = local.rule_names[each.key] }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- dashboard -------------------------------------------------------------------------------
locals {
  api_metric = local.rest ? ["AWS/ApiGateway", "Count", "ApiName", local.names.api, "Stage", var.stage_name] : ["AWS/ApiGateway", "Count", "ApiId", try(aws_apigatewayv2_api.this[0].id, ""), "Stage", "$default"]
  widget = {
    type   = "metric"
    width  = 12
    height = 6
  }
  dashboard_widgets = [
    merge(local.widget, { properties = {
      title = "Webhooks received (API requests, 4XX, 5XX)", region = local.region, stat = "Sum", period = 60
      metrics = [
        local.api_metric,
        [local.api_metric[0], local.rest ? "4XXError" : "4xx", local.api_metric[2], local.api_metric[3], local.api_metric[4], local.api_metric[5]],
        [local.api_metric[0], local.rest ? "5XXError" : "5xx", local.api_metric[2], local.api_metric[3], local.api_metric[4], local.api_metric[5]],
      ]
    } }),
    merge(local.widget, { properties = {
      title = "API latency p50 / p99 (ms)", region = local.region, period = 60
      metrics = [
        [local.api_metric[0], "Latency", local.api_metric[2], local.api_metric[3], local.api_metric[4], local.api_metric[5], { stat = "p50" }],
        [local.api_metric[0], "Latency", local.api_metric[2], local.api_metric[3], local.api_metric[4], local.api_metric[5], { stat = "p99" }],
      ]
    } }),
    merge(local.widget, { properties = {
      title   = "Pending (messages visible)", region = local.region, stat = "Maximum", period = 60
      metrics = [for q in values(local.work_queues) : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q.name]]
    } }),
    merge(local.widget, { properties = {
      title   = "Oldest pending (s)", region = local.region, stat = "Maximum", period = 60
      metrics = [for q in values(local.work_queues) : ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", q.name]]
    } }),
    merge(local.widget, { properties = {
      title   = "Dead (DLQ depth)", region = local.region, stat = "Maximum", period = 60
      metrics = [for q in values(local.dlqs) : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q]]
    } }),
    merge(local.widget, { properties = {
      title = "Routed (rule matches) and failed rule deliveries", region = local.region, stat = "Sum", period = 60
      metrics = concat(
        [for r in values(local.rule_names) : ["AWS/Events", "MatchedEvents", "EventBusName", local.names.bus, "RuleName", r]],
        [for r in values(local.rule_names) : ["AWS/Events", "FailedInvocations", "EventBusName", local.names.bus, "RuleName", r]],
      )
    } }),
    merge(local.widget, { properties = {
      title   = "Function invocations", region = local.region, stat = "Sum", period = 60
      metrics = [for f in values(local.function_names) : ["AWS/Lambda", "Invocations", "FunctionName", f]]
    } }),
    merge(local.widget, { properties = {
      title = "Function errors and throttles", region = local.region, stat = "Sum", period = 60
      metrics = concat(
        [for f in values(local.function_names) : ["AWS/Lambda", "Errors", "FunctionName", f]],
        [for f in values(local.function_names) : ["AWS/Lambda", "Throttles", "FunctionName", f]],
      )
    } }),
    merge(local.widget, { properties = {
      title   = "Function duration p99 (ms)", region = local.region, stat = "p99", period = 60
      metrics = [for f in values(local.function_names) : ["AWS/Lambda", "Duration", "FunctionName", f]]
    } }),
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = local.names.dashboard
  dashboard_body = jsonencode({
    widgets = [for i, w in local.dashboard_widgets : merge(w, { x = (i % 2) * 12, y = floor(i / 2) * 6 })]
  })
}
