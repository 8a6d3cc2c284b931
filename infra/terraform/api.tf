# The front door: POST /webhooks/{source} -> the ingest function's `live` alias. REST API by
# default; an HTTP API (payload format 2.0) when api_type = "http" (the lean profile).

locals {
  rest    = var.api_type == "rest"
  http    = var.api_type == "http"
  api_url = trimsuffix(local.rest ? aws_api_gateway_stage.this[0].invoke_url : aws_apigatewayv2_stage.this[0].invoke_url, "/")
  # One JSON line per request in the access log.
  rest_access_log = jsonencode({
    requestId         = "$context.requestId", ip = "$context.identity.sourceIp", time = "$context.requestTime",
    method            = "$context.httpMethod", path = "$context.path", status = "$context.status",
    length            = "$context.responseLength", latencyMs = "$context.responseLatency",
    integrationStatus = "$context.integration.status", error = "$context.error.message",
  })
  http_access_log = jsonencode({
    requestId         = "$context.requestId", ip = "$context.identity.sourceIp", time = "$context.requestTime",
    method            = "$context.httpMethod", path = "$context.path", status = "$context.status",
    length            = "$context.responseLength", latencyMs = "$context.responseLatency",
    integrationStatus = "$context.integrationStatus", error = "$context.error.message",
  })
}

resource "aws_cloudwatch_log_group" "api" {
  #checkov:skip=CKV_AWS_338:Retention is a variable; 7 days (the default) is a requirement of this module.
  name              = local.names.api_logs
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}

# --- REST API ----------------------------------------------------------------------------------
resource "aws_api_gateway_rest_api" "this" {
  count = local.rest ? 1 : 0

  name        = local.names.api
  description = "whp ingest (${local.prefix}): POST /webhooks/{source}"
  # Every body reaches the function byte-exact, base64-encoded: signatures are over raw bytes.
  binary_media_types = ["*/*"]

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_resource" "webhooks" {
  count = local.rest ? 1 : 0

  rest_api_id = aws_api_gateway_rest_api.this[0].id
  parent_id   = aws_api_gateway_rest_api.this[0].root_resource_id
  path_part   = "webhooks"
}

resource "aws_api_gateway_resource" "source" {
  count = local.rest ? 1 : 0

  rest_api_id = aws_api_gateway_rest_api.this[0].id
  parent_id   = aws_api_gateway_resource.webhooks[0].id
  path_part   = "{source}"
}

resource "aws_api_gateway_request_validator" "this" {
  count = local.rest ? 1 : 0

  name                        = "path-parameters"
  rest_api_id                 = aws_api_gateway_rest_api.this[0].id
  validate_request_parameters = true
  # Bodies are the provider's, verified by the function; API Gateway must not judge them.
  validate_request_body = false
}

resource "aws_api_gateway_method" "post" {
  count = local.rest ? 1 : 0

  #checkov:skip=CKV_AWS_59:Webhook senders (GitHub, Stripe, ...) cannot present AWS credentials or API keys; every request is authenticated by its source's signature in the ingest function before anything is stored.
  #checkov:skip=CKV2_AWS_53:The request validator checks the path parameter; the body is the provider's, verified by the function.
  rest_api_id          = aws_api_gateway_rest_api.this[0].id
  resource_id          = aws_api_gateway_resource.source[0].id
  http_method          = "POST"
  authorization        = "NONE"
  request_validator_id = aws_api_gateway_request_validator.this[0].id
  request_parameters   = { "method.request.path.source" = true }
}

resource "aws_api_gateway_integration" "ingest" {
  count = local.rest ? 1 : 0

  rest_api_id             = aws_api_gateway_rest_api.this[0].id
  resource_id             = aws_api_gateway_resource.source[0].id
  http_method             = aws_api_gateway_method.post[0].http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST"
  uri                     = local.live["ingest"].invoke_arn
}

resource "aws_api_gateway_deployment" "this" {
  count = local.rest ? 1 : 0

  rest_api_id = aws_api_gateway_rest_api.this[0].id
  description = "whp ingest (${local.prefix})"

  # A new deployment whenever what the API serves changes; the stage moves to it before the old
  # one goes. No stage_name here: the stage is aws_api_gateway_stage's alone.
  triggers = {
    redeployment = sha1(jsonencode([
      aws_api_gateway_rest_api.this[0].binary_media_types,
      aws_api_gateway_resource.webhooks[0].id,
      aws_api_gateway_resource.source[0].id,
      aws_api_gateway_method.post[0],
      aws_api_gateway_integration.ingest[0],
      aws_api_gateway_request_validator.this[0],
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_stage" "this" {
  count = local.rest ? 1 : 0

  #checkov:skip=CKV_AWS_120:Webhooks are POSTs that must each reach the function; a cache would answer them without storing them.
  #checkov:skip=CKV2_AWS_51:Providers do not present client certificates; requests are authenticated by their signatures.
  #checkov:skip=CKV2_AWS_77:WAF is optional (waf_web_acl_arn) and the web ACL, with its managed rule groups, is the operator's.
  #checkov:skip=CKV2_AWS_29:WAF is optional (waf_web_acl_arn): a web ACL is the operator's, with rules for their providers' address ranges.
  rest_api_id          = aws_api_gateway_rest_api.this[0].id
  deployment_id        = aws_api_gateway_deployment.this[0].id
  stage_name           = var.stage_name
  xray_tracing_enabled = var.tracing_mode == "Active"

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api.arn
    format          = local.rest_access_log
  }

  depends_on = [aws_api_gateway_account.this]
}

resource "aws_api_gateway_method_settings" "all" {
  count = local.rest ? 1 : 0

  rest_api_id = aws_api_gateway_rest_api.this[0].id
  stage_name  = aws_api_gateway_stage.this[0].stage_name
  method_path = "*/*"

  #checkov:skip=CKV_AWS_225:Webhooks are POSTs that must each reach the function; a cache would answer them without storing them.

  settings {
    metrics_enabled        = true
    logging_level          = "ERROR"
    data_trace_enabled     = false
    throttling_rate_limit  = var.api_throttling.rate_limit
    throttling_burst_limit = var.api_throttling.burst_limit
  }
}

resource "aws_api_gateway_usage_plan" "this" {
  count = local.rest ? 1 : 0

  name        = local.names.api
  description = "Rate limit of whp ingest (${local.prefix})"

  api_stages {
    api_id = aws_api_gateway_rest_api.this[0].id
    stage  = aws_api_gateway_stage.this[0].stage_name
  }

  throttle_settings {
    rate_limit  = var.api_throttling.rate_limit
    burst_limit = var.api_throttling.burst_limit
  }
}

resource "aws_wafv2_web_acl_association" "this" {
  count = local.rest && var.waf_web_acl_arn != null ? 1 : 0

  resource_arn = aws_api_gateway_stage.this[0].arn
  web_acl_arn  = var.waf_web_acl_arn
}

resource "aws_xray_sampling_rule" "api" {
  count = local.rest && var.tracing_mode == "Active" && var.tracing_sample_rate != null ? 1 : 0

  rule_name      = local.names.sampling_rule
  priority       = 100
  reservoir_size = 1
  fixed_rate     = var.tracing_sample_rate
  service_name   = "${aws_api_gateway_rest_api.this[0].name}/${var.stage_name}"
  service_type   = "AWS::ApiGateway::Stage"
  host           = "*"
  http_method    = "*"
  url_path       = "*"
  resource_arn   = "*"
  version        = 1
}

resource "aws_lambda_permission" "rest" {
  count = local.rest ? 1 : 0

  statement_id  = "ApiGatewayRest"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["ingest"].function_name
  qualifier     = local.live["ingest"].name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.this[0].execution_arn}/*/POST/webhooks/*"
}

# The account-wide CloudWatch role REST access logs need (manage_api_gateway_account).
data "aws_iam_policy_document" "apigw_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "apigw_logs" {
  count = local.rest && var.manage_api_gateway_account ? 1 : 0

  name               = local.names.apigw_role
  description        = "API Gateway writing access logs to CloudWatch (account setting)"
  assume_role_policy = data.aws_iam_policy_document.apigw_assume.json
}

resource "aws_iam_role_policy_attachment" "apigw_logs" {
  count = local.rest && var.manage_api_gateway_account ? 1 : 0

  role       = aws_iam_role.apigw_logs[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  count = local.rest && var.manage_api_gateway_account ? 1 : 0

  cloudwatch_role_arn = aws_iam_role.apigw_logs[0].arn
  depends_on          = [aws_iam_role_policy_attachment.apigw_logs]
}

# --- HTTP API (api_type = "http") --------------------------------------------------------------
resource "aws_apigatewayv2_api" "this" {
  count = local.http ? 1 : 0

  name          = local.names.api
  description   = "whp ingest (${local.prefix}): POST /webhooks/{source}"
  protocol_type = "HTTP"
}

resource "aws_apigatewayv2_integration" "ingest" {
  count = local.http ? 1 : 0

  api_id                 = aws_apigatewayv2_api.this[0].id
  integration_type       = "AWS_PROXY"
  integration_uri        = local.live["ingest"].invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = local.timeouts.ingest * 1000 + 1000
}

resource "aws_apigatewayv2_route" "post" {
  count = local.http ? 1 : 0

  #checkov:skip=CKV_AWS_309:Webhook senders cannot present AWS credentials or JWTs; every request is authenticated by its source's signature in the ingest function.
  api_id             = aws_apigatewayv2_api.this[0].id
  route_key          = "POST /webhooks/{source}"
  target             = "integrations/${aws_apigatewayv2_integration.ingest[0].id}"
  authorization_type = "NONE"
}

resource "aws_apigatewayv2_stage" "this" {
  count = local.http ? 1 : 0

  api_id      = aws_apigatewayv2_api.this[0].id
  name        = "$default"
  auto_deploy = true

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api.arn
    format          = local.http_access_log
  }

  default_route_settings {
    throttling_rate_limit  = var.api_throttling.rate_limit
    throttling_burst_limit = var.api_throttling.burst_limit
  }
}

resource "aws_lambda_permission" "http" {
  count = local.http ? 1 : 0

  statement_id  = "ApiGatewayHttp"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["ingest"].function_name
  qualifier     = local.live["ingest"].name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this[0].execution_arn}/*/*/webhooks/*"
}
