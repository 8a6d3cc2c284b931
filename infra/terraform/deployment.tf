# deployment_strategy = "codedeploy": each new version reaches `live` as a canary
# (canary.percentage for canary.interval_minutes, then all of it); the function's error alarm
# firing during the shift rolls it back.

locals {
  codedeploy = var.deployment_strategy == "codedeploy"
}

resource "aws_codedeploy_app" "this" {
  count = local.codedeploy ? 1 : 0

  name             = local.names.codedeploy
  compute_platform = "Lambda"
}

resource "aws_codedeploy_deployment_config" "canary" {
  count = local.codedeploy ? 1 : 0

  deployment_config_name = local.names.codedeploy_cf
  compute_platform       = "Lambda"

  traffic_routing_config {
    type = "TimeBasedCanary"
    time_based_canary {
      percentage = var.canary.percentage
      interval   = var.canary.interval_minutes
    }
  }
}

resource "aws_codedeploy_deployment_group" "this" {
  for_each = local.codedeploy ? local.function_names : {}

  app_name               = aws_codedeploy_app.this[0].name
  deployment_group_name  = each.value
  deployment_config_name = aws_codedeploy_deployment_config.canary[0].id
  service_role_arn       = aws_iam_role.codedeploy[0].arn

  deployment_style {
    deployment_option = "WITH_TRAFFIC_CONTROL"
    deployment_type   = "BLUE_GREEN"
  }

  alarm_configuration {
    enabled = true
    alarms  = [aws_cloudwatch_metric_alarm.function_errors[each.key].alarm_name]
  }

  auto_rollback_configuration {
    enabled = true
    events  = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]
  }
}

# Terraform publishes the version; CodeDeploy shifts `live` to it. The provider has no resource
# that starts a deployment, so the aws CLI does (where terraform runs), and waits for the outcome:
# a rollback fails the apply.
resource "terraform_data" "deployment" {
  for_each = local.codedeploy ? local.function_names : {}

  triggers_replace = [aws_lambda_function.this[each.key].version]

  provisioner "local-exec" {
    command = <<-EOT
      set -eu
      [ "$CURRENT" = "$TARGET" ] && exit 0
      id=$(aws deploy create-deployment --region "$REGION" --application-name "$APP" \
        --deployment-group-name "$GROUP" --revision "$REVISION" --query deploymentId --output text)
      echo "CodeDeploy deployment $id: $GROUP $CURRENT -> $TARGET"
      aws deploy wait deployment-successful --region "$REGION" --deployment-id "$id"
    EOT
    environment = {
      REGION  = local.region
      APP     = aws_codedeploy_app.this[0].name
      GROUP   = aws_codedeploy_deployment_group.this[each.key].deployment_group_name
      CURRENT = aws_lambda_alias.codedeploy[each.key].function_version
      TARGET  = aws_lambda_function.this[each.key].version
      REVISION = jsonencode({
        revisionType = "AppSpecContent"
        appSpecContent = {
          content = jsonencode({
            version = 0
            Resources = [{
              (each.key) = {
                Type = "AWS::Lambda::Function"
                Properties = {
                  Name           = aws_lambda_function.this[each.key].function_name
                  Alias          = aws_lambda_alias.codedeploy[each.key].name
                  CurrentVersion = aws_lambda_alias.codedeploy[each.key].function_version
                  TargetVersion  = aws_lambda_function.this[each.key].version
                }
              }
            }]
          })
        }
      })
    }
  }
}

# CodeDeploy's role: move this deployment's aliases and read its alarms, nothing else.
data "aws_iam_policy_document" "codedeploy_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["codedeploy.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "codedeploy" {
  statement {
    sid       = "ShiftAliases"
    actions   = ["lambda:GetAlias", "lambda:UpdateAlias", "lambda:GetProvisionedConcurrencyConfig"]
    resources = [for f in aws_lambda_function.this : "${f.arn}:*"]
  }

  statement {
    sid       = "WatchAlarms"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = [for a in aws_cloudwatch_metric_alarm.function_errors : a.arn]
  }
}

resource "aws_iam_role" "codedeploy" {
  count = local.codedeploy ? 1 : 0

  name               = local.names.deploy_role
  description        = "CodeDeploy shifting the live aliases of ${local.prefix}"
  assume_role_policy = data.aws_iam_policy_document.codedeploy_assume.json
}

resource "aws_iam_policy" "codedeploy" {
  count = local.codedeploy ? 1 : 0

  name        = local.names.deploy_role
  description = "CodeDeploy shifting the live aliases of ${local.prefix}"
  policy      = data.aws_iam_policy_document.codedeploy.json
}

resource "aws_iam_role_policy_attachment" "codedeploy" {
  count = local.codedeploy ? 1 : 0

  role       = aws_iam_role.codedeploy[0].name
  policy_arn = aws_iam_policy.codedeploy[0].arn
}
