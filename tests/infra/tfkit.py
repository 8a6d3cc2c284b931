"""Terraform for the infra tests: find the CLI and the offline provider mirror, copy the module
to a scratch folder, run terraform there, and build a Lambda package the module accepts.

The CLI is $TERRAFORM, else `terraform` on PATH. The provider mirror (a filesystem_mirror holding
registry.terraform.io/hashicorp/aws) is $WHP_TF_PLUGIN_MIRROR, else the first of a few usual
roots that holds it. Tests that need either skip, saying which is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "infra" / "terraform"
EXAMPLE = MODULE / "examples" / "complete"
CONFIG = Path(__file__).with_name("whp.yaml")
PROVIDER_DIR = Path("registry.terraform.io") / "hashicorp" / "aws"
MIRROR_ROOTS = (
    "/opt/tf-plugins",
    "/usr/share/terraform/plugins",
    "/usr/local/share/terraform/plugins",
    "~/.terraform.d/plugins",
    "~/.local/share/terraform/plugins",
)
# The zip comment `whp aws build` writes (docs/aws.md, "The package").
DIGEST_COMMENT = "whp-config-sha256="


def find_terraform() -> str | None:
    return os.environ.get("TERRAFORM") or shutil.which("terraform")


def find_mirror() -> Path | None:
    """The filesystem mirror holding hashicorp/aws: $WHP_TF_PLUGIN_MIRROR, else a usual root."""
    configured = os.environ.get("WHP_TF_PLUGIN_MIRROR")
    roots = [configured] if configured else list(MIRROR_ROOTS)
    for root in roots:
        path = Path(root).expanduser()
        if (path / PROVIDER_DIR).is_dir():
            return path
    return None


@dataclass(frozen=True)
class Terraform:
    binary: str
    cli_config: Path

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            TF_CLI_CONFIG_FILE=str(self.cli_config),
            TF_IN_AUTOMATION="1",
            TF_INPUT="0",
            CHECKPOINT_DISABLE="1",
        )
        env.pop("TF_WORKSPACE", None)
        env.update(extra or {})
        return env

    def run(
        self,
        *args: str,
        cwd: Path,
        check: bool = True,
        timeout: float = 600,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, *args, "-no-color"] if args[0] != "fmt" else [self.binary, *args],
            cwd=cwd,
            env=self.env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"terraform {' '.join(args)} failed ({result.returncode}) in {cwd}:\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
            )
        return result


def console(tf: Terraform, work: Path, expression: str, *args: str) -> Any:
    """The value of one expression, evaluated by `terraform console` in `work` (its .tf files,
    `args` such as -var), parsed from the JSON it prints."""
    done = subprocess.run(
        [tf.binary, "console", *args],
        input=expression + "\n",
        cwd=work,
        env=tf.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def write_cli_config(path: Path, mirror: Path) -> Path:
    path.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n'
        '    include = ["registry.terraform.io/hashicorp/*"]\n  }\n'
        '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n'
        "}\n",
        encoding="utf-8",
    )
    return path


def copy_module(dest: Path) -> Path:
    """A copy of infra/terraform without working files; returns the copy's root."""
    ignore = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*")
    shutil.copytree(MODULE, dest, ignore=ignore)
    return dest


def build_package(config: Path, output: Path, *, digest: str | None = None) -> Path:
    """A stand-in for `whp aws build` until it is merged: a zip with whp.yaml and
    whp-config.sha256 at its root and the config's digest as its comment, which is all the
    module reads. `digest` overrides the embedded digest (a package built from another config).
    """
    data = config.read_bytes()
    embedded = digest or hashlib.sha256(data).hexdigest()
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in (("whp.yaml", data), ("whp-config.sha256", embedded.encode())):
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
        zf.comment = (DIGEST_COMMENT + embedded).encode()
    return output


# Every service the module touches: without an endpoint a service goes to real AWS.
MOTO_SERVICES = (
    "apigateway", "apigatewayv2", "backup", "cloudwatch", "logs", "codedeploy", "dynamodb",
    "events", "iam", "kms", "lambda", "s3", "secretsmanager", "sns", "sqs", "sts", "xray", "wafv2",
)  # fmt: skip


def moto_provider_override(endpoint: str, region: str) -> str:
    """A provider block (for a *_override.tf file) that points every service at moto."""
    endpoints = "\n".join(f'    {name} = "{endpoint}"' for name in MOTO_SERVICES)
    return (
        'provider "aws" {\n'
        f'  region                      = "{region}"\n'
        '  access_key                  = "testing"\n'
        '  secret_key                  = "testing"\n'
        "  skip_credentials_validation = true\n"
        "  skip_metadata_api_check     = true\n"
        "  skip_region_validation      = true\n"
        "  skip_requesting_account_id  = false\n"
        "  s3_use_path_style           = true\n"
        "  max_retries                 = 2\n"
        f"  endpoints {{\n{endpoints}\n  }}\n"
        "}\n"
    )


def prepare_example(tf: Terraform, work: Path, endpoint: str, region: str) -> Path:
    """A copy of the module with examples/complete pointed at moto, initialised; returns the
    example's folder."""
    example = copy_module(work / "module") / "examples" / "complete"
    (example / "moto_override.tf").write_text(moto_provider_override(endpoint, region))
    tf.run("init", "-backend=false", "-input=false", cwd=example, timeout=300)
    return example


def var_args(values: dict[str, str]) -> list[str]:
    args: list[str] = []
    for key, value in values.items():
        args += ["-var", f"{key}={value}"]
    return args


def whp_build(config: Path, output: Path) -> Path:
    """The Lambda package of `config`: built by `whp aws build` when this tree has it, else by
    build_package's stand-in (a zip with what the module reads)."""
    whp = [sys.executable, "-m", "webhook_processor"]
    probe = subprocess.run(
        [*whp, "aws", "build", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    if probe.returncode != 0:
        return build_package(config, output)
    built = subprocess.run(
        [*whp, "aws", "build", "--config", str(config), "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, f"whp aws build failed:\n{built.stdout}\n{built.stderr}"
    return output
