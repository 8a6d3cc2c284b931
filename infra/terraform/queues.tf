# The ingest queue (router), one queue per destination (delivery), their DLQs, and the two DLQs of
# last resort (failed asynchronous Lambda invocations, EventBridge targets that could not be
# reached). Every queue keeps messages 14 days, so a pause loses nothing, and uses the module's key.

locals {
  queue_retention_seconds = 14 * 24 * 3600
  # docs/aws.md, "Queues": 6 x the consuming function's timeout.
  ingest_visibility      = 6 * local.timeouts.router
  destination_visibility = 6 * local.timeouts.delivery
  ingest_max_receives    = 5
}

resource "aws_sqs_queue" "ingest_dlq" {
  name                      = local.names.ingest_dlq
  message_retention_seconds = local.queue_retention_seconds
  kms_master_key_id         = aws_kms_key.this.arn
}

resource "aws_sqs_queue" "ingest" {
  name                       = local.names.ingest_queue
  message_retention_seconds  = local.queue_retention_seconds
  visibility_timeout_seconds = local.ingest_visibility
  kms_master_key_id          = aws_kms_key.this.arn

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.ingest_dlq.arn
    maxReceiveCount     = local.ingest_max_receives
  })
}

resource "aws_sqs_queue" "destination_dlq" {
  for_each = local.dest_queue_names

  name                      = "${each.value}-dlq"
  message_retention_seconds = local.queue_retention_seconds
  kms_master_key_id         = aws_kms_key.this.arn
}

resource "aws_sqs_queue" "destination" {
  for_each = local.dest_queue_names

  name                       = each.value
  message_retention_seconds  = local.queue_retention_seconds
  visibility_timeout_seconds = local.destination_visibility
  kms_master_key_id          = aws_kms_key.this.arn

  # A delivery's attempt number is the receive count: after max_attempts receives the message
  # is dead, in this destination's DLQ (docs/aws.md, "Routing on AWS").
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.destination_dlq[each.key].arn
    maxReceiveCount     = local.dest_max_attempt[each.key]
  })
}

resource "aws_sqs_queue" "lambda_dlq" {
  name                      = local.names.lambda_dlq
  message_retention_seconds = local.queue_retention_seconds
  kms_master_key_id         = aws_kms_key.this.arn
}

resource "aws_sqs_queue" "events_dlq" {
  name                      = local.names.events_dlq
  message_retention_seconds = local.queue_retention_seconds
  kms_master_key_id         = aws_kms_key.this.arn
}

# EventBridge may send to the destination queues and the target DLQ, from this bus's rules only.
data "aws_iam_policy_document" "eventbridge_to_queue" {
  for_each = merge(
    { for k, q in aws_sqs_queue.destination : "d-${k}" => { arn = q.arn, rules = [for r, d in local.route_dest : aws_cloudwatch_event_rule.route[r].arn if d == k] } },
    { events-dlq = { arn = aws_sqs_queue.events_dlq.arn, rules = [for r in aws_cloudwatch_event_rule.route : r.arn] } },
  )

  statement {
    sid       = "EventBridgeRules"
    actions   = ["sqs:SendMessage"]
    resources = [each.value.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      # A destination no route names still gets a policy: one that matches no rule.
      values = length(each.value.rules) > 0 ? each.value.rules : ["arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.names.bus}/none"]
    }
  }
}

resource "aws_sqs_queue_policy" "destination" {
  for_each = aws_sqs_queue.destination

  queue_url = each.value.id
  policy    = data.aws_iam_policy_document.eventbridge_to_queue["d-${each.key}"].json
}

resource "aws_sqs_queue_policy" "events_dlq" {
  queue_url = aws_sqs_queue.events_dlq.id
  policy    = data.aws_iam_policy_document.eventbridge_to_queue["events-dlq"].json
}

# --- event source mappings: on the `live` aliases, paused together by processing_enabled -------
locals {
  # An invocation attempts min(batch size, N // 2) of a destination's messages at once, N its
  # max_concurrency (adapters/aws/deliverer.py, attempts_at_once): its mapping runs N over that
  # many invocations, within what a mapping allows (2-1000), so that at most N attempts are in
  # flight (docs/aws.md, "Concurrency per destination"). N = 1: two, taking turns (a lease).
  dest_mapping_concurrency = {
    for k, n in local.dest_concurrency :
    k => min(1000, max(2, floor(n / min(var.batching.delivery_batch_size, max(1, floor(n / 2))))))
  }
}

resource "aws_lambda_event_source_mapping" "router" {
  event_source_arn                   = aws_sqs_queue.ingest.arn
  function_name                      = local.live["router"].arn
  enabled                            = var.processing_enabled
  batch_size                         = var.batching.router_batch_size
  maximum_batching_window_in_seconds = var.batching.router_window_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.batching.router_max_concurrency
  }
}

resource "aws_lambda_event_source_mapping" "delivery" {
  for_each = aws_sqs_queue.destination

  event_source_arn                   = each.value.arn
  function_name                      = local.live["delivery"].arn
  enabled                            = var.processing_enabled && !local.dest_paused[each.key]
  batch_size                         = var.batching.delivery_batch_size
  maximum_batching_window_in_seconds = var.batching.delivery_window_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = local.dest_mapping_concurrency[each.key]
  }
}
