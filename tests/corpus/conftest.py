import pytest


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory):
    """Where this session's corpus files are written (each is made once per session)."""
    return str(tmp_path_factory.mktemp("corpus"))
