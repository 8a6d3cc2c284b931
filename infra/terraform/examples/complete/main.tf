# The whole deployment from one whp.yaml and the package `whp aws build` made from it:
#
#   whp aws build --config whp.yaml --output dist/whp-lambda.zip
#   terraform init && terraform apply -var environment_suffix=dev \
#     -var config_file=$PWD/whp.yaml -var lambda_package=$PWD/dist/whp-lambda.zip

# The single provider block (the module has none).
provider "aws" {
  region = var.region

  default_tags {
    tags = {
      application = "webhook-processor"
      environment = var.environment_suffix
    }
  }
}

module "whp" {
  source = "../.."

  environment_suffix  = var.environment_suffix
  config_file         = var.config_file
  lambda_package      = var.lambda_package
  lambda_architecture = var.lambda_architecture
  processing_enabled  = var.processing_enabled
  deployment_strategy = var.deployment_strategy
  api_type            = var.api_type
  deletion_protection = var.deletion_protection

  manage_api_gateway_account = var.manage_api_gateway_account
}
