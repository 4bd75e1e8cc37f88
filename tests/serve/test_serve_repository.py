"""Model repositories: layouts, per-model config over command-line defaults, and clear errors."""
import json
import shutil

import pytest

from support.serve_util import CIFAR, linear_model

from pyinfer.serve.config import ModelConfig
from pyinfer.serve.errors import ConfigError
from pyinfer.serve.repository import load_repository


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "cifar").mkdir()
    shutil.copy(CIFAR, tmp_path / "cifar" / "model.onnx")
    (tmp_path / "cifar" / "config.json").write_text(json.dumps({"instances": 2, "max_batch_size": 8}))
    for version in ("1", "12", "3"):
        (tmp_path / "lin" / version).mkdir(parents=True)
        linear_model(tmp_path / "lin" / version / "model.onnx")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "README.txt").write_text("not a model")
    return tmp_path


def test_layouts_configs_and_defaults(repo):
    cifar, lin = load_repository(str(repo), defaults={"threads": 1, "max_batch_size": 2, "timeout_s": 5.0})
    assert cifar == ModelConfig("cifar", str(repo / "cifar" / "model.onnx"), version="1", threads=1, instances=2,
                                max_batch_size=8, timeout_s=5.0)
    assert lin == ModelConfig("lin", str(repo / "lin" / "12" / "model.onnx"), version="12", threads=1,
                              max_batch_size=2, timeout_s=5.0)


@pytest.mark.parametrize("config, message", [
    ({"instance": 2}, "unknown setting(s) ['instance']"),
    ({"instances": 0}, "instances must be an integer >= 1, got 0"),
    ({"max_queue_delay_ms": -1}, "max_queue_delay_ms must be a number >= 0"),
    ({"timeout_s": "soon"}, "timeout_s must be a number > 0"),
    ({"threads": True}, "threads must be an integer >= 1"),
    ([1, 2], "must be a JSON object of settings"),
])
def test_bad_configs_name_the_setting(repo, config, message):
    (repo / "cifar" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError) as e:
        load_repository(str(repo))
    assert message in str(e.value)


def test_bad_layouts(repo, tmp_path_factory):
    (repo / "cifar" / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read it as JSON"):
        load_repository(str(repo))
    (repo / "cifar" / "config.json").unlink()
    (repo / "cifar" / "2").mkdir()
    with pytest.raises(ConfigError, match="has both model.onnx and version folders"):
        load_repository(str(repo))
    (repo / "cifar" / "model.onnx").unlink()
    with pytest.raises(ConfigError, match="the highest version folder has no model.onnx"):
        load_repository(str(repo))
    (repo / "cifar" / "2").rmdir()
    with pytest.raises(ConfigError, match="no model.onnx"):
        load_repository(str(repo))
    with pytest.raises(ConfigError, match="has no model folders"):
        load_repository(str(tmp_path_factory.mktemp("empty")))
    with pytest.raises(ConfigError, match="is not a directory"):
        load_repository(str(repo / "README.txt"))


def test_model_names_are_checked():
    with pytest.raises(ConfigError, match="must be letters, digits"):
        ModelConfig("../etc", CIFAR)
    with pytest.raises(ConfigError, match="model file not found"):
        ModelConfig("m", "/nonexistent/model.onnx")
