variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "environment_suffix" {
  description = "Names this deployment (wh-<environment_suffix>-...): 1-16 characters of [a-z0-9-], starting and ending with a letter or digit."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?$", var.environment_suffix))
    error_message = "environment_suffix must be 1-16 characters of [a-z0-9-], starting and ending with a letter or digit."
  }
}

variable "config_file" {
  description = "Path of whp.yaml (the one the package was built from)."
  type        = string

  validation {
    condition     = fileexists(var.config_file)
    error_message = "config_file must name an existing file."
  }
}

variable "lambda_package" {
  description = "Path of the zip built by `whp aws build` from config_file."
  type        = string

  validation {
    condition     = endswith(var.lambda_package, ".zip")
    error_message = "lambda_package must name a .zip file."
  }
}

variable "lambda_architecture" {
  description = "arm64 or x86_64, matching the package."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be \"arm64\" or \"x86_64\"."
  }
}

variable "processing_enabled" {
  description = "false pauses routing and delivery (every event source mapping disabled); the API keeps accepting."
  type        = bool
  default     = true

  validation {
    condition     = var.processing_enabled == true || var.processing_enabled == false
    error_message = "processing_enabled must be true or false."
  }
}

variable "deployment_strategy" {
  description = "\"codedeploy\" (canary with automatic rollback; needs the aws CLI) or \"weighted\" (alias routing)."
  type        = string
  default     = "codedeploy"

  validation {
    condition     = contains(["codedeploy", "weighted"], var.deployment_strategy)
    error_message = "deployment_strategy must be \"codedeploy\" or \"weighted\"."
  }
}

variable "api_type" {
  description = "\"rest\" (API Gateway REST API) or \"http\" (HTTP API: the lean profile)."
  type        = string
  default     = "rest"

  validation {
    condition     = contains(["rest", "http"], var.api_type)
    error_message = "api_type must be \"rest\" or \"http\"."
  }
}

variable "deletion_protection" {
  description = "Protect the table (and a non-empty bodies bucket) from deletion; false for throw-away environments."
  type        = bool
  default     = true

  validation {
    condition     = var.deletion_protection == true || var.deletion_protection == false
    error_message = "deletion_protection must be true or false."
  }
}

variable "manage_api_gateway_account" {
  description = "Create the account-wide API Gateway CloudWatch role that REST access logs need; true in exactly one deployment per account and region (a fresh account needs it once)."
  type        = bool
  default     = false

  validation {
    condition     = var.manage_api_gateway_account == true || var.manage_api_gateway_account == false
    error_message = "manage_api_gateway_account must be true or false."
  }
}
