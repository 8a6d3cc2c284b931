# One customer-managed key for everything at rest, one role per function with only what it uses,
# the Secrets Manager secrets of the config's aws-sm: references.

resource "aws_kms_key" "this" {
  description             = "${local.prefix}: webhook-processor data at rest (table, bucket, queues, logs, secrets, alarms)"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "this" {
  name          = local.names.key_alias
  target_key_id = aws_kms_key.this.key_id
}

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109:A key policy's "*" resource is the key itself; the account statement is AWS's default key policy, so IAM can grant use of the key (and nobody is locked out).
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource is the key itself; the service statements are limited by source account or encryption context.
  #checkov:skip=CKV_AWS_356:A key policy's "*" resource is the key itself, the only resource a key policy can name.
  # The account administers the key through IAM (AWS's default key policy); the functions' roles
  # get kms:Decrypt and kms:GenerateDataKey on it by their own policies below.
  statement {
    sid       = "AccountAdministersThroughIAM"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudWatch Logs encrypts this deployment's log groups, and only those.
  statement {
    sid       = "CloudWatchLogs"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${local.prefix}-*",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.names.api_logs}",
      ]
    }
  }

  # EventBridge sends to the encrypted destination queues and the target DLQ; CloudWatch alarms
  # publish to the encrypted alarm topic. AWS documents both grants without conditions: the
  # services do not all pass aws:SourceAccount / aws:SourceArn on these KMS calls.
  statement {
    sid       = "EventBridgeAndAlarms"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com", "cloudwatch.amazonaws.com"]
    }
  }
}

# --- secrets ------------------------------------------------------------------------------------
# No aws_secretsmanager_secret_version: the operator (or the rotation function) puts the value, so
# no secret ever reaches the Terraform state.
resource "aws_secretsmanager_secret" "this" {
  for_each = local.created_secrets

  name        = "${local.prefix}/${each.key}"
  description = "whp secret aws-sm:${each.key} (${local.prefix}); the value is put outside Terraform"
  kms_key_id  = aws_kms_key.this.arn
}

locals {
  secret_arn = merge(
    { for n in flatten(values(local.aws_sm_refs)) : n => n if startswith(n, "arn:") },
    { for n, s in aws_secretsmanager_secret.this : n => s.arn },
  )
  secret_arns_of = { for use, names in local.aws_sm_refs : use => [for n in names : local.secret_arn[n]] }
}

resource "aws_secretsmanager_secret_rotation" "signing" {
  for_each = local.rotated_secrets

  secret_id           = aws_secretsmanager_secret.this[each.key].id
  rotation_lambda_arn = local.live["rotation"].arn
  # The first value is the operator's (put before this is applied: see the README); rotations
  # follow on the schedule. Rotating at once would replace a value receivers were just given.
  rotate_immediately = false

  rotation_rules {
    automatically_after_days = var.secret_rotation_days
  }

  depends_on = [aws_lambda_permission.rotation]
}

resource "aws_lambda_permission" "rotation" {
  for_each = local.rotated_secrets

  statement_id  = "SecretsManager-${substr(sha256(each.key), 0, 16)}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["rotation"].function_name
  qualifier     = local.live["rotation"].name
  principal     = "secretsmanager.amazonaws.com"
  source_arn    = aws_secretsmanager_secret.this[each.key].arn
}

# --- function roles -----------------------------------------------------------------------------
data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each = local.function_names

  name               = each.value
  description        = "whp ${each.key} function (${local.prefix})"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_iam_policy" "function" {
  for_each = local.function_names

  name        = each.value
  description = "What the whp ${each.key} function (${local.prefix}) uses, and only that"
  policy      = data.aws_iam_policy_document.function[each.key].json
}

resource "aws_iam_role_policy_attachment" "function" {
  for_each = local.function_names

  role       = aws_iam_role.function[each.key].name
  policy_arn = aws_iam_policy.function[each.key].arn
}

locals {
  table_arns = [aws_dynamodb_table.events.arn]
  # What adapters/aws calls on the table (tests/infra/test_module_hcl.py reads them from the code).
  table_rw = [
    "dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
  ]
  queue_consume = [
    "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
  ]
  # Per function: the statements beyond logs, tracing, the key and the Lambda DLQ.
  function_statements = {
    ingest = [
      { sid = "Table", actions = local.table_rw, resources = local.table_arns },
      { sid = "IngestQueue", actions = ["sqs:SendMessage"], resources = [aws_sqs_queue.ingest.arn] },
      { sid = "PutBodies", actions = ["s3:PutObject", "s3:DeleteObject"], resources = ["${aws_s3_bucket.bodies.arn}/bodies/*"] },
      { sid = "SourceSecrets", actions = ["secretsmanager:GetSecretValue"], resources = local.secret_arns_of.source },
    ]
    router = [
      { sid = "Table", actions = local.table_rw, resources = local.table_arns },
      { sid = "IngestQueue", actions = local.queue_consume, resources = [aws_sqs_queue.ingest.arn] },
      { sid = "GetBodies", actions = ["s3:GetObject"], resources = ["${aws_s3_bucket.bodies.arn}/bodies/*"] },
      { sid = "PutEvents", actions = ["events:PutEvents"], resources = [aws_cloudwatch_event_bus.this.arn] },
    ]
    delivery = [
      { sid = "Table", actions = local.table_rw, resources = local.table_arns },
      { sid = "DestinationQueues", actions = local.queue_consume, resources = [for q in aws_sqs_queue.destination : q.arn] },
      { sid = "GetBodies", actions = ["s3:GetObject"], resources = ["${aws_s3_bucket.bodies.arn}/bodies/*"] },
      { sid = "SigningSecrets", actions = ["secretsmanager:GetSecretValue"], resources = concat(local.secret_arns_of.destination, local.secret_arns_of.alerts) },
    ]
    rotation = [
      {
        sid       = "RotateSigningSecrets"
        actions   = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"]
        resources = [for n in local.rotated_secrets : aws_secretsmanager_secret.this[n].arn]
      },
    ]
  }
}

data "aws_iam_policy_document" "function" {
  for_each = local.function_names

  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }

  # X-Ray's write actions take no resource-level permissions: "*" is the only resource they accept.
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  statement {
    sid       = "Key"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
  }

  statement {
    sid       = "LambdaDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.lambda_dlq.arn]
  }

  dynamic "statement" {
    # A statement without resources is invalid: a function with no such secret gets none.
    for_each = [for s in local.function_statements[each.key] : s if length(s.resources) > 0]
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}
