# Every input is typed, described and validated. The contract the names follow is docs/aws.md.

variable "environment_suffix" {
  description = "Names this deployment: every resource name starts with wh-<environment_suffix>. 1-16 characters of [a-z0-9-], starting and ending with a letter or digit (lower case: it is part of an S3 bucket name). 16 is the longest suffix for which every name fits its AWS limit."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?$", var.environment_suffix))
    error_message = "environment_suffix must be 1-16 characters of [a-z0-9-], starting and ending with a letter or digit (e.g. \"prod\", \"pr-142\")."
  }
}

variable "config_file" {
  description = "Path of the whp.yaml the package was built from: routes become EventBridge rules, destinations queues, aws-sm: references secrets."
  type        = string

  validation {
    condition     = fileexists(var.config_file) && can(yamldecode(file(var.config_file)).sources)
    error_message = "config_file must name an existing whp.yaml (a YAML mapping with a 'sources' key)."
  }
}

variable "lambda_package" {
  description = "Path of the zip built by `whp aws build` from config_file. Its comment carries the config's sha256 (docs/aws.md, \"The package\"); a package built from another config is refused at plan."
  type        = string

  validation {
    condition     = endswith(var.lambda_package, ".zip") && fileexists(var.lambda_package)
    error_message = "lambda_package must name an existing .zip file built by `whp aws build`."
  }
}

variable "lambda_architecture" {
  description = "Instruction set of the functions; must match the package (`whp aws build --arch`). arm64 is about 20 % cheaper per GB-second."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be \"arm64\" or \"x86_64\"."
  }
}

variable "python_version" {
  description = "Python runtime of the functions; must match the package (`whp aws build --python`)."
  type        = string
  default     = "3.13"

  validation {
    condition     = contains(["3.12", "3.13"], var.python_version)
    error_message = "python_version must be \"3.12\" or \"3.13\"."
  }
}

variable "processing_enabled" {
  description = "false leaves every event source mapping disabled: the API keeps accepting and storing webhooks, nothing is routed or delivered (queues keep messages 14 days). An operator's pause."
  type        = bool
  default     = true

  validation {
    condition     = var.processing_enabled == true || var.processing_enabled == false
    error_message = "processing_enabled must be true or false."
  }
}

variable "deployment_strategy" {
  description = "How a new version reaches the `live` aliases: \"codedeploy\" (a canary shifted by CodeDeploy, rolled back automatically when the function's error alarm fires; needs the aws CLI where terraform runs) or \"weighted\" (alias routing weights set by Terraform, see weighted_stable_versions)."
  type        = string
  default     = "codedeploy"

  validation {
    condition     = contains(["codedeploy", "weighted"], var.deployment_strategy)
    error_message = "deployment_strategy must be \"codedeploy\" or \"weighted\"."
  }
}

variable "canary" {
  description = "The canary: the share of traffic (percent) the new version gets first and, for codedeploy, the minutes before the rest follows."
  type = object({
    percentage       = optional(number, 10)
    interval_minutes = optional(number, 5)
  })
  default = {}

  validation {
    condition     = var.canary.percentage >= 1 && var.canary.percentage <= 99 && var.canary.interval_minutes >= 1 && var.canary.interval_minutes <= 2880 && floor(var.canary.interval_minutes) == var.canary.interval_minutes
    error_message = "canary.percentage must be 1-99 and canary.interval_minutes a whole number of minutes, 1-2880."
  }
}

variable "weighted_stable_versions" {
  description = "deployment_strategy = \"weighted\" only: per function (ingest, router, delivery, rotation), the version that keeps 100 - canary.percentage % of the traffic while the newest version gets the rest. A function not listed (the default) sends everything to its newest version."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.weighted_stable_versions : contains(["ingest", "router", "delivery", "rotation"], k) && can(regex("^[0-9]+$", v))])
    error_message = "weighted_stable_versions maps ingest, router, delivery or rotation to a published version number (e.g. {ingest = \"7\"})."
  }
}

variable "api_type" {
  description = "Front door: \"rest\" (API Gateway REST API: request validation, usage plan, WAF, X-Ray; $3.50 per million) or \"http\" (HTTP API, payload format 2.0; $1.00 per million; the lean profile)."
  type        = string
  default     = "rest"

  validation {
    condition     = contains(["rest", "http"], var.api_type)
    error_message = "api_type must be \"rest\" or \"http\"."
  }
}

variable "stage_name" {
  description = "Stage of the REST API (the HTTP API uses its $default stage). Webhooks go to <api_url>/webhooks/{source}."
  type        = string
  default     = "v1"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.stage_name))
    error_message = "stage_name must be 1-64 characters of [A-Za-z0-9_-]."
  }
}

variable "api_throttling" {
  description = "Steady rate (requests per second) and burst the API accepts before answering 429, on the stage's methods and in the usage plan."
  type = object({
    rate_limit  = optional(number, 1000)
    burst_limit = optional(number, 2000)
  })
  default = {}

  validation {
    condition     = var.api_throttling.rate_limit > 0 && var.api_throttling.burst_limit >= 1 && floor(var.api_throttling.burst_limit) == var.api_throttling.burst_limit
    error_message = "api_throttling.rate_limit must be positive and burst_limit a whole number >= 1."
  }
}

variable "waf_web_acl_arn" {
  description = "Optional WAFv2 web ACL (REGIONAL) to associate with the REST API's stage. null: none."
  type        = string
  default     = null

  validation {
    condition     = var.waf_web_acl_arn == null || can(regex("^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:[0-9]{12}:regional/webacl/", var.waf_web_acl_arn))
    error_message = "waf_web_acl_arn must be null or the ARN of a REGIONAL WAFv2 web ACL."
  }
}

variable "manage_api_gateway_account" {
  description = "Create the account-wide API Gateway CloudWatch role that REST access logs need. It is one setting per account and region: set true in exactly one deployment there (or set it up outside Terraform)."
  type        = bool
  default     = false

  validation {
    condition     = var.manage_api_gateway_account == true || var.manage_api_gateway_account == false
    error_message = "manage_api_gateway_account must be true or false."
  }
}

variable "memory_sizes" {
  description = "Memory (MB) of each function; CPU grows with it."
  type = object({
    ingest   = optional(number, 256)
    router   = optional(number, 256)
    delivery = optional(number, 256)
    rotation = optional(number, 128)
  })
  default = {}

  validation {
    condition     = alltrue([for v in values(var.memory_sizes) : v >= 128 && v <= 10240 && floor(v) == v])
    error_message = "memory_sizes must be whole numbers of MB, 128-10240."
  }
}

variable "timeouts" {
  description = "Timeout (seconds) of each function. The ingest queue's visibility timeout is 6 x router, each destination queue's 6 x delivery (docs/aws.md); delivery must exceed every destination's timeout_seconds."
  type = object({
    ingest   = optional(number, 10)
    router   = optional(number, 30)
    delivery = optional(number, 60)
    rotation = optional(number, 60)
  })
  default = {}

  validation {
    condition     = alltrue([for v in values(var.timeouts) : v >= 1 && v <= 900 && floor(v) == v]) && var.timeouts.ingest <= 29
    error_message = "timeouts must be whole seconds, 1-900, and ingest at most 29 (API Gateway's integration limit)."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions per function; a function left out (the default) reserves none and uses the account's unreserved pool."
  type = object({
    ingest   = optional(number)
    router   = optional(number)
    delivery = optional(number)
    rotation = optional(number)
  })
  default = {}

  validation {
    condition     = alltrue([for v in values(var.reserved_concurrency) : v == null ? true : v >= 0 && floor(v) == v])
    error_message = "reserved_concurrency values must be null or whole numbers >= 0."
  }
}

variable "snapstart" {
  description = "Enable Lambda SnapStart on published versions (Python 3.12+). Off by default: it bills the cached snapshots of every version."
  type        = bool
  default     = false

  validation {
    condition     = var.snapstart == true || var.snapstart == false
    error_message = "snapstart must be true or false."
  }
}

variable "powertools_layer_arn" {
  description = "ARN of AWS's public Powertools for AWS Lambda (Python) layer to attach to every function. null (the default): Powertools comes from the package."
  type        = string
  default     = null

  validation {
    condition     = var.powertools_layer_arn == null || can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:layer:[A-Za-z0-9_-]+:[0-9]+$", var.powertools_layer_arn))
    error_message = "powertools_layer_arn must be null or a layer version ARN (arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION)."
  }
}

variable "tracing_mode" {
  description = "X-Ray tracing of the functions: \"Active\" samples requests itself, \"PassThrough\" traces only what an upstream service sampled."
  type        = string
  default     = "Active"

  validation {
    condition     = contains(["Active", "PassThrough"], var.tracing_mode)
    error_message = "tracing_mode must be \"Active\" or \"PassThrough\"."
  }
}

variable "tracing_sample_rate" {
  description = "REST API only: the share of requests X-Ray traces beyond the first each second (an X-Ray sampling rule on the stage). null (the default): X-Ray's default rule, the first request each second and 5 % of the rest. Lambda's own sampling cannot be configured."
  type        = number
  default     = null

  validation {
    condition     = var.tracing_sample_rate == null ? true : var.tracing_sample_rate >= 0 && var.tracing_sample_rate <= 1
    error_message = "tracing_sample_rate must be null or between 0 and 1."
  }
}

variable "log_level" {
  description = "POWERTOOLS_LOG_LEVEL of the functions (docs/aws.md: INFO; the lean profile: WARNING)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "platform_log_level" {
  description = "Lambda's system log level for the functions (logging_config.system_log_level): \"INFO\" (the default) writes Lambda's START, END and REPORT records of every invocation, \"WARN\" drops them and keeps Lambda's warnings and errors (the lean profile), \"DEBUG\" adds Lambda's debug records. The functions' own logs follow log_level either way."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN"], var.platform_log_level)
    error_message = "platform_log_level must be DEBUG, INFO or WARN (Lambda's system log levels; WARN, not WARNING)."
  }
}

variable "log_retention_days" {
  description = "Retention of every log group (functions, API access logs)."
  type        = number
  default     = 7

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch Logs' values: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "batching" {
  description = "Event source mappings: messages per invocation and the window (seconds) to gather them, for the router (ingest queue) and the delivery function (destination queues); router_max_concurrency caps the router's concurrent invocations (each destination's max_concurrency from the config caps its deliveries)."
  type = object({
    router_batch_size       = optional(number, 10)
    router_window_seconds   = optional(number, 1)
    router_max_concurrency  = optional(number, 10)
    delivery_batch_size     = optional(number, 5)
    delivery_window_seconds = optional(number, 0)
  })
  default = {}

  validation {
    # SQS mappings take up to 10 messages without a window, up to 10000 with one.
    condition = alltrue([
      for p in [["router", var.batching.router_batch_size, var.batching.router_window_seconds], ["delivery", var.batching.delivery_batch_size, var.batching.delivery_window_seconds]] :
      p[1] >= 1 && floor(p[1]) == p[1] && p[2] >= 0 && p[2] <= 300 && floor(p[2]) == p[2] && (p[1] <= 10 || p[2] > 0) && p[1] <= 10000
    ]) && var.batching.router_max_concurrency >= 2 && var.batching.router_max_concurrency <= 1000
    error_message = "batching: batch sizes 1-10 (up to 10000 with a window > 0), windows 0-300 whole seconds, router_max_concurrency 2-1000."
  }
}

variable "deletion_protection" {
  description = "Protect the table from deletion (and keep the bodies bucket unless empty). Turn off only for throw-away environments."
  type        = bool
  default     = true

  validation {
    condition     = var.deletion_protection == true || var.deletion_protection == false
    error_message = "deletion_protection must be true or false."
  }
}

variable "backup_plan" {
  description = "Optional AWS Backup plan for the table: a cron schedule and how many days to keep each backup. null (the default): none beyond point-in-time recovery."
  type = object({
    schedule       = string
    retention_days = number
  })
  default = null

  validation {
    condition     = var.backup_plan == null ? true : can(regex("^cron\\(.+\\)$", var.backup_plan.schedule)) && var.backup_plan.retention_days >= 1
    error_message = "backup_plan.schedule must be a cron(...) expression and retention_days at least 1."
  }
}

variable "secret_rotation_days" {
  description = "Days between rotations of the destination signing secrets the module creates (the rotation function generates the new whsec_ value)."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_rotation_days >= 1 && var.secret_rotation_days <= 1000 && floor(var.secret_rotation_days) == var.secret_rotation_days
    error_message = "secret_rotation_days must be a whole number, 1-1000."
  }
}

variable "event_archive_retention_days" {
  description = "Days the event bus archive keeps routed events for replay (0: indefinitely)."
  type        = number
  default     = 7

  validation {
    condition     = var.event_archive_retention_days >= 0 && floor(var.event_archive_retention_days) == var.event_archive_retention_days
    error_message = "event_archive_retention_days must be a whole number >= 0."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the module's KMS key is deleted after a destroy."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30 && floor(var.kms_deletion_window_days) == var.kms_deletion_window_days
    error_message = "kms_deletion_window_days must be a whole number, 7-30."
  }
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the alarm topic (each must confirm). Other subscribers can be added to the alarm_topic_arn output."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.alarm_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "alarm_emails must be e-mail addresses."
  }
}

variable "alarm_thresholds" {
  description = "When the alarms fire: the age (seconds) of the oldest message of the ingest queue and of a destination queue (retries wait in it, so allow for backoff), and the API's p99 latency (ms)."
  type = object({
    ingest_oldest_seconds      = optional(number, 300)
    destination_oldest_seconds = optional(number, 3600)
    api_p99_latency_ms         = optional(number, 2000)
  })
  default = {}

  validation {
    condition     = alltrue([for v in values(var.alarm_thresholds) : v > 0])
    error_message = "alarm_thresholds values must be positive."
  }
}
