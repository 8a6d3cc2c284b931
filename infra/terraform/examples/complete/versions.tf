terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7"
    }
  }
  # No backend block: state is local, so `terraform init` never prompts. For S3 state see
  # ../../backend.hcl.example.
}
