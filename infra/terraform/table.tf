# The durable store (docs/aws.md, "The table"): one on-demand table, and a bucket for the bodies
# too large for an item. No index: an index entry is one more write of every item in it, and the
# items' own keys serve every listing (events by day and shard, dead letters by destination).

resource "aws_dynamodb_table" "events" {
  name                        = local.names.table
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.this.arn
  }
}

# --- bodies too large for an item ---------------------------------------------------------------
resource "aws_s3_bucket" "bodies" {
  #checkov:skip=CKV_AWS_144:Cross-region replication of bodies that expire after retention_days + 1 buys nothing; the table (PITR, optional backups) is the record.
  #checkov:skip=CKV_AWS_18:Access logging would need a second bucket per deployment; only the functions' roles can reach this one, and CloudTrail data events can log them if required.
  #checkov:skip=CKV2_AWS_62:Nothing subscribes to new bodies: the table item points to them.
  bucket        = local.names.bucket
  force_destroy = !var.deletion_protection
}

resource "aws_s3_bucket_public_access_block" "bodies" {
  bucket                  = aws_s3_bucket.bodies.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "bodies" {
  bucket = aws_s3_bucket.bodies.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "bodies" {
  bucket = aws_s3_bucket.bodies.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    bucket_key_enabled = true
  }
}

# Versioning keeps an overwritten or deleted body recoverable until the lifecycle expires it.
resource "aws_s3_bucket_versioning" "bodies" {
  bucket = aws_s3_bucket.bodies.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "bodies" {
  bucket = aws_s3_bucket.bodies.id

  rule {
    id     = "expire-bodies"
    status = "Enabled"
    filter {
      prefix = "bodies/"
    }
    # docs/aws.md: bodies expire retention_days + 1 after they were written.
    expiration {
      days = local.retention_days + 1
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }

  rule {
    id     = "abort-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.bodies]
}

data "aws_iam_policy_document" "bodies" {
  statement {
    sid       = "TLSOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.bodies.arn, "${aws_s3_bucket.bodies.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "bodies" {
  bucket = aws_s3_bucket.bodies.id
  policy = data.aws_iam_policy_document.bodies.json

  depends_on = [aws_s3_bucket_public_access_block.bodies]
}

# --- optional AWS Backup plan ------------------------------------------------------------------
resource "aws_backup_vault" "this" {
  count = var.backup_plan == null ? 0 : 1

  name        = local.names.backup
  kms_key_arn = aws_kms_key.this.arn
}

resource "aws_backup_plan" "this" {
  count = var.backup_plan == null ? 0 : 1

  name = local.names.backup
  rule {
    rule_name         = "table"
    target_vault_name = aws_backup_vault.this[0].name
    schedule          = var.backup_plan.schedule
    lifecycle {
      delete_after = var.backup_plan.retention_days
    }
  }
}

data "aws_iam_policy_document" "backup_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["backup.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "backup" {
  count = var.backup_plan == null ? 0 : 1

  name               = local.names.backup_role
  description        = "AWS Backup of the ${local.prefix} table"
  assume_role_policy = data.aws_iam_policy_document.backup_assume.json
}

resource "aws_iam_role_policy_attachment" "backup" {
  count = var.backup_plan == null ? 0 : 1

  role       = aws_iam_role.backup[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"
}

resource "aws_backup_selection" "table" {
  count = var.backup_plan == null ? 0 : 1

  name         = local.names.backup
  plan_id      = aws_backup_plan.this[0].id
  iam_role_arn = aws_iam_role.backup[0].arn
  resources    = [aws_dynamodb_table.events.arn]
}
