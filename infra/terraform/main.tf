# The config, the names and the package: everything the other files derive from.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
# `.id` is the region's name on 5.x and 6.x alike; `.name` is deprecated in 6.0.
data "aws_region" "current" {}

locals {
  prefix     = "wh-${var.environment_suffix}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.id

  # --- whp.yaml -------------------------------------------------------------------------------
  # `try` turns an absent or empty (null) section into an empty one; whp check has validated the
  # file's shape before `whp aws build` packaged it.
  config           = yamldecode(file(var.config_file))
  config_sources   = try({ for k, v in local.config.sources : k => v }, {})
  config_dests     = try({ for k, v in local.config.destinations : k => v }, {})
  config_routes    = try([for r in local.config.routes : r], [])
  retention_days   = try(local.config.storage.retention_days, 7)
  route_pattern    = { for r in local.config_routes : r.name => jsonencode(r.pattern) }
  route_dest       = { for r in local.config_routes : r.name => r.destination }
  dest_max_attempt = { for k, d in local.config_dests : k => try(d.retry.max_attempts, 8) }
  dest_concurrency = { for k, d in local.config_dests : k => try(d.max_concurrency, 10) }
  dest_paused      = { for k, d in local.config_dests : k => try(d.paused, false) }

  # Every secret reference in the config, by who reads it (docs/aws.md: sources' secret/secrets,
  # destinations' signing_secret, admin.token, alert receivers' signing_secret).
  secret_refs = {
    source      = [for r in flatten([for s in values(local.config_sources) : [try(s.secret, null), try(s.secrets, null)]]) : r if r != null]
    destination = [for d in values(local.config_dests) : d.signing_secret if try(d.signing_secret, null) != null]
    admin       = [for r in [try(local.config.admin.token, null)] : r if r != null]
    alerts      = try([for n in local.config.alerts.notify : n.signing_secret if try(n.signing_secret, null) != null], [])
  }
  # aws-sm:NAME -> the module creates <prefix>/NAME; aws-sm:arn:... is used as it is.
  aws_sm_refs     = { for use, refs in local.secret_refs : use => distinct([for r in refs : trimprefix(r, "aws-sm:") if startswith(r, "aws-sm:")]) }
  created_secrets = toset([for n in flatten(values(local.aws_sm_refs)) : n if !startswith(n, "arn:")])
  # Destination signing secrets are generated (whsec_...), so the rotation function rotates them.
  rotated_secrets = toset([for n in local.aws_sm_refs.destination : n if !startswith(n, "arn:")])

  # --- names (docs/aws.md, "Names") -----------------------------------------------------------
  # fit(name, n): the name if it fits, else its first n - 9 characters, "-" and 8 hex digits of
  # its sha256. Python: webhook_processor.adapters.aws.names.
  dest_fit  = { for k in keys(local.config_dests) : k => length(k) <= 50 ? k : "${substr(k, 0, 41)}-${substr(sha256(k), 0, 8)}" }
  route_fit = { for k in keys(local.route_pattern) : k => length(k) <= 40 ? k : "${substr(k, 0, 31)}-${substr(sha256(k), 0, 8)}" }

  names = {
    table         = "${local.prefix}-events"
    bucket        = "${local.prefix}-bodies-${local.account_id}"
    bus           = "${local.prefix}-bus"
    archive       = "${local.prefix}-archive"
    ingest_queue  = "${local.prefix}-ingest"
    ingest_dlq    = "${local.prefix}-ingest-dlq"
    lambda_dlq    = "${local.prefix}-lambda-dlq"
    events_dlq    = "${local.prefix}-events-dlq"
    key_alias     = "alias/${local.prefix}"
    alarm_topic   = "${local.prefix}-alarms"
    dashboard     = local.prefix
    api           = "${local.prefix}-api"
    codedeploy    = "${local.prefix}-deploy"
    codedeploy_cf = "${local.prefix}-canary"
    api_logs      = "/aws/apigateway/${local.prefix}"
    sampling_rule = local.prefix
    backup        = "${local.prefix}-backup"
    apigw_role    = "${local.prefix}-apigw-logs"
    deploy_role   = "${local.prefix}-codedeploy"
    backup_role   = "${local.prefix}-backup"
  }
  dest_queue_names = { for k, v in local.dest_fit : k => "${local.prefix}-d-${v}" }
  rule_names       = { for k, v in local.route_fit : k => "${local.prefix}-r-${v}" }

  # --- the package ----------------------------------------------------------------------------
  # Terraform cannot open a zip, so `whp aws build` also writes the config's digest as the zip's
  # comment ("whp-config-sha256=<hex>"), the last bytes of the file. The last 100 base64
  # characters decode to the last 73-75 bytes: inside the 82-byte comment whatever the file's
  # length modulo 3, so they are always valid UTF-8 text when the comment is there.
  package_b64    = filebase64(var.lambda_package)
  package_tail   = try(base64decode(substr(local.package_b64, -100, -1)), "")
  package_digest = try(regexall("sha256=([0-9a-f]{64})$", local.package_tail)[0][0], null)
  config_digest  = filesha256(var.config_file)
}

# The precondition every function depends on: rules and code never drift (docs/aws.md).
resource "terraform_data" "package" {
  input = {
    hash          = filebase64sha256(var.lambda_package)
    config_digest = local.config_digest
  }

  lifecycle {
    precondition {
      condition     = local.package_digest == local.config_digest
      error_message = "The Lambda package ${var.lambda_package} was not built from ${var.config_file}: its embedded config digest is ${coalesce(local.package_digest, "missing (not a `whp aws build` zip?)")}, the config's sha256 is ${local.config_digest}. Rebuild it: whp aws build --config ${var.config_file} --output ${var.lambda_package}"
    }
  }
}
