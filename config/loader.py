"""Load a street configuration from a YAML file or a directory of them.

Every problem is collected and raised together as one `ConfigError`, each as
`file:line: message`, so a person fixes a broken configuration in one pass.
"""

from __future__ import annotations

from pathlib import Path

from config.errors import ConfigError, ConfigProblem
from config.merge import merge
from config.models import StreetConfig
from config.registry import Registry
from config.schema import validate_schema
from config.validate import check_references
from config.yaml_source import parse_file

__all__ = [
    "DEFAULT_CONFIG_DIR",
    "ConfigError",
    "ConfigProblem",
    "config_files",
    "load_config",
    "load_registry",
]

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent / "street"
YAML_SUFFIXES = (".yaml", ".yml")


def config_files(path: str | Path) -> list[Path]:
    """The YAML files making up the configuration at `path`, in merge order."""
    path = Path(path)
    if path.is_dir():
        try:
            entries = list(path.iterdir())
        except OSError as exc:
            raise _error(path, f"cannot list directory: {exc.strerror or exc}") from None
        files = sorted(
            p
            for p in entries
            # Dot-files are editor backups and lock files, never part of the configuration.
            if p.suffix in YAML_SUFFIXES and p.is_file() and not p.name.startswith(".")
        )
        if not files:
            raise _error(path, "directory holds no *.yaml or *.yml files")
        return files
    if path.is_file():
        return [path]
    raise _error(path, "no such file or directory")


def load_config(path: str | Path) -> StreetConfig:
    parsed = [parse_file(p) for p in config_files(path)]
    problems = [problem for p in parsed for problem in p.problems]
    if not all(p.readable for p in parsed):
        # Half a configuration would only add misleading "missing" and "unknown" reports.
        raise ConfigError(problems)
    merged = merge(parsed)
    problems += merged.problems
    schema = validate_schema(merged.data, merged.source)
    problems += schema.problems
    if schema.config is not None:
        problems += check_references(schema.config, schema.locator, schema.dropped_ids)
    if problems or schema.config is None:
        raise ConfigError(problems)
    return schema.config


def load_registry(path: str | Path) -> Registry:
    return Registry.from_config(load_config(path))


def _error(path: Path, message: str) -> ConfigError:
    return ConfigError([ConfigProblem(str(path), 1, message)])
