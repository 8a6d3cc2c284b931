# The four functions of the package, each with its log group, a published version and a `live`
# alias that every trigger (API, event source mappings, Secrets Manager) invokes.

locals {
  function_keys  = ["ingest", "router", "delivery", "rotation"]
  function_names = { for k in local.function_keys : k => "${local.prefix}-${k}" }

  # The one place the timeouts are read: the queues' visibility timeouts derive from them.
  timeouts = var.timeouts

  environment = {
    WHP_PREFIX                   = local.prefix
    WHP_TABLE                    = aws_dynamodb_table.events.name
    WHP_BUS                      = aws_cloudwatch_event_bus.this.name
    WHP_INGEST_QUEUE_URL         = aws_sqs_queue.ingest.url
    WHP_BODIES_BUCKET            = aws_s3_bucket.bodies.bucket
    POWERTOOLS_SERVICE_NAME      = "whp"
    POWERTOOLS_METRICS_NAMESPACE = "whp"
    POWERTOOLS_LOG_LEVEL         = var.log_level
  }

  # Lambda's application log level (logging_config below): a filter that must drop nothing.
  # Lambda drops application lines below it and counts a line without a valid "level" and an
  # RFC 3339 "timestamp" as INFO ("Log-level filtering",
  # https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html).
  # Powertools' EMF lines (its Metrics) carry no level, and its Logger's timestamps
  # ("2026-01-01 10:20:19,650+0000") are not RFC 3339: at WARN or ERROR Lambda would drop the
  # metrics and, by that page, every log line, errors included. So Lambda's level is INFO, or
  # DEBUG when the functions log at DEBUG, and log_level (POWERTOOLS_LOG_LEVEL) is the filter.
  # Lambda passes its level to the functions as AWS_LAMBDA_LOG_LEVEL, which powertools' Logger
  # takes over POWERTOOLS_LOG_LEVEL ("AWS Lambda Advanced Logging Controls (ALC)",
  # https://docs.powertools.aws.dev/lambda/python/latest/core/logger/) and the Python runtime
  # gives its root logger: the handlers set their loggers back to POWERTOOLS_LOG_LEVEL and the
  # root to WARNING, as under the Text format (entrypoints/lambdas/common.py).
  application_log_level = var.log_level == "DEBUG" ? "DEBUG" : "INFO"
}

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.function_names

  #checkov:skip=CKV_AWS_338:Retention is a variable; 7 days (the default) is a requirement of this module: webhooks live in the table, logs are for debugging.
  name              = "/aws/lambda/${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}

resource "aws_lambda_function" "this" {
  for_each = local.function_names

  #checkov:skip=CKV_AWS_117:The functions call only public AWS APIs and the destinations' public URLs; a VPC would add NAT costs and cold-start latency and protect nothing here.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile the operator owns; the package is pinned by its sha256 (source_code_hash) and by the config-digest precondition.
  function_name = each.value
  description   = "whp ${each.key} (${local.prefix})"
  role          = aws_iam_role.function[each.key].arn
  handler       = "webhook_processor.entrypoints.lambdas.${each.key}.handler"
  runtime       = "python${var.python_version}"
  architectures = [var.lambda_architecture]

  filename         = var.lambda_package
  source_code_hash = terraform_data.package.output.hash
  publish          = true

  memory_size                    = var.memory_sizes[each.key]
  timeout                        = local.timeouts[each.key]
  reserved_concurrent_executions = var.reserved_concurrency[each.key]
  layers                         = var.powertools_layer_arn == null ? [] : [var.powertools_layer_arn]
  kms_key_arn                    = aws_kms_key.this.arn

  environment {
    variables = local.environment
  }

  # Lambda's advanced logging controls; JSON is the format that takes levels. platform_log_level
  # "WARN" drops START, END and REPORT (INFO records); the functions' lines are powertools' JSON
  # either way. The log group is the function's own (above), created before the function.
  logging_config {
    log_format            = "JSON"
    application_log_level = local.application_log_level
    system_log_level      = var.platform_log_level
    log_group             = aws_cloudwatch_log_group.function[each.key].name
  }

  tracing_config {
    mode = var.tracing_mode
  }

  # Only asynchronous invocations use it (none of the module's triggers is asynchronous): a
  # manual `aws lambda invoke --invocation-type Event` that fails lands here, not nowhere.
  dead_letter_config {
    target_arn = aws_sqs_queue.lambda_dlq.arn
  }

  dynamic "snap_start" {
    for_each = var.snapstart ? [1] : []
    content {
      apply_on = "PublishedVersions"
    }
  }

  # A function created before its role can use the key, its DLQ, X-Ray and its logs retries for
  # minutes; the attachments first, then the function, and a short create timeout if it still hangs.
  depends_on = [aws_iam_role_policy_attachment.function, aws_cloudwatch_log_group.function]

  timeouts {
    create = "5m"
  }
}

# --- the `live` aliases -------------------------------------------------------------------------
# One alias per function under either strategy; everything else reads local.live.
locals {
  # weighted: the stable version keeps the traffic, the newest one gets canary.percentage.
  weighted_canary = {
    for k, f in aws_lambda_function.this : k => try(var.weighted_stable_versions[k] != f.version, false)
  }
  live = merge(aws_lambda_alias.weighted, aws_lambda_alias.codedeploy)
}

resource "aws_lambda_alias" "weighted" {
  for_each = var.deployment_strategy == "weighted" ? local.function_names : {}

  name             = "live"
  description      = "What every trigger invokes: the newest version, or a stable one and a weighted canary"
  function_name    = aws_lambda_function.this[each.key].function_name
  function_version = local.weighted_canary[each.key] ? var.weighted_stable_versions[each.key] : aws_lambda_function.this[each.key].version

  dynamic "routing_config" {
    for_each = local.weighted_canary[each.key] ? [1] : []
    content {
      additional_version_weights = { (aws_lambda_function.this[each.key].version) = var.canary.percentage / 100 }
    }
  }
}

resource "aws_lambda_alias" "codedeploy" {
  for_each = var.deployment_strategy == "codedeploy" ? local.function_names : {}

  name             = "live"
  description      = "What every trigger invokes; CodeDeploy shifts it to each new version (deployment.tf)"
  function_name    = aws_lambda_function.this[each.key].function_name
  function_version = aws_lambda_function.this[each.key].version

  lifecycle {
    # CodeDeploy owns the version and the weights once the alias exists: Terraform publishes a
    # version and asks CodeDeploy to shift to it (terraform_data.deployment).
    ignore_changes = [function_version, routing_config]
  }
}
