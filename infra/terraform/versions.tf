# Both the provider this machine's offline mirror holds (5.100.0) and the 6.x line: the module uses
# nothing deprecated in 5.x or removed in 6.0 (rules take `state`, the API deployment has no
# `stage_name`, roles carry no inline policies, the region is read from `.id`, never `.name`).
# The Lambda package is built by `whp aws build`, so no archive (or any other) provider is needed.
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7"
    }
  }
}
