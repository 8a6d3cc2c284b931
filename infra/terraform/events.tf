# Routing (docs/aws.md): the router puts routed events on the bus; one rule per route, with the
# route's own pattern from whp.yaml, sends each to its destination's queue.

resource "aws_cloudwatch_event_bus" "this" {
  name = local.names.bus
}

# Everything the bus carries, kept for replay (`aws events start-replay`).
resource "aws_cloudwatch_event_archive" "this" {
  name             = local.names.archive
  description      = "Routed webhook events of ${local.prefix}"
  event_source_arn = aws_cloudwatch_event_bus.this.arn
  retention_days   = var.event_archive_retention_days
}

resource "aws_cloudwatch_event_rule" "route" {
  for_each = local.route_pattern

  name           = local.rule_names[each.key]
  description    = "whp route ${each.key} -> ${local.route_dest[each.key]}"
  event_bus_name = aws_cloudwatch_event_bus.this.name
  event_pattern  = each.value
  state          = "ENABLED"
}

resource "aws_cloudwatch_event_target" "route" {
  for_each = local.route_pattern

  rule           = aws_cloudwatch_event_rule.route[each.key].name
  event_bus_name = aws_cloudwatch_event_bus.this.name
  target_id      = "queue"
  arn            = aws_sqs_queue.destination[local.route_dest[each.key]].arn

  # docs/aws.md, "Queues": {"route": <route name>, "event": <the event>}, so two routes to one
  # destination stay two deliveries. <aws.events.event> is the event without its `detail`: a
  # 1 MB payload never makes a message over SQS's 1 MB; the delivery reads the body from the table.
  input_transformer {
    input_template = "{\"route\": ${jsonencode(each.key)}, \"event\": <aws.events.event>}"
  }

  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }

  dead_letter_config {
    arn = aws_sqs_queue.events_dlq.arn
  }
}
