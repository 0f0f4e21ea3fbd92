import pytest

from clip_pipeline.errors import ConfigurationError
from clip_pipeline.providers import PROVIDER_NAMES, get_provider
from clip_pipeline.providers.base import Provider, ProviderAuthError
from clip_pipeline.settings import Settings
from tests.support.provider_sims import provider_settings


@pytest.mark.parametrize("name", PROVIDER_NAMES)
def test_every_adapter_implements_the_task_model(name, tmp_path):
    provider = get_provider(name, provider_settings(tmp_path))
    assert isinstance(provider, Provider) and provider.name == name
    caps = provider.capabilities
    assert caps.output_fps == 24 and caps.durations_s == sorted(caps.durations_s)
    assert caps.can_find_tasks == (name in ("kling", "local"))


@pytest.mark.parametrize("name, variable", [
    ("kling", "CLIP_PIPELINE_KLING_ACCESS_KEY"), ("veo", "CLIP_PIPELINE_GOOGLE_API_KEY"),
    ("runway", "CLIP_PIPELINE_RUNWAY_API_SECRET"),
])
def test_missing_keys_name_the_setting(name, variable, tmp_path):
    with pytest.raises(ProviderAuthError, match=variable):
        get_provider(name, Settings(home=tmp_path, kling_access_key=None, kling_secret_key=None,
                                    google_api_key=None, runway_api_secret=None))


def test_unknown_provider_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="choose one of kling, veo, runway, local"):
        get_provider("sora", provider_settings(tmp_path))
