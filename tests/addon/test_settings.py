"""The panel's properties are core's settings: same names, defaults, ranges, choices and help,
built from the one declaration (core/options.py), in the installed extension in real Blender."""

from __future__ import annotations

import importlib

import pytest

bpy = pytest.importorskip("bpy")

from extension_install import install_extension  # noqa: E402


@pytest.fixture(scope="module")
def installed() -> dict:
    """The installed extension's modules: properties, apply, core.generate, core.options."""
    package = install_extension()["package"]
    return {
        name: importlib.import_module(f"{package}.{name}")
        for name in ("addon.properties", "addon.apply", "core.generate", "core.options")
    }


@pytest.fixture
def settings(installed: dict):
    bpy.ops.wm.read_homefile(use_empty=True)
    return bpy.context.scene.virtual_conductor


@pytest.mark.parametrize("name", ["GenerateOptions", "ApplyOptions"])
def test_every_setting_is_a_property_with_its_declaration(installed: dict, settings, name: str) -> None:
    properties, options = installed["addon.properties"], installed["core.options"]
    cls = getattr(installed["core.generate"], name, None) or getattr(installed["addon.apply"], name)
    rna = settings.bl_rna.properties
    for info in options.option_fields(cls):
        if info.name in properties.PANEL_OWN:  # offered the panel's way (operators.read_inputs fills it)
            continue
        assert info.name in rna, f"setting {info.name} has no property"
        prop = rna[info.name]
        assert prop.name == info.label and prop.description.lower() == info.help.lower(), info.name
        if info.choices is not None:
            choices = ((None,) if info.optional else ()) + info.choices
            assert [item.identifier for item in prop.enum_items] == [properties.enum_identifier(c) for c in choices]
            assert prop.default == properties.enum_identifier(info.default)
        else:
            assert prop.default == pytest.approx(info.default), info.name
            if info.minimum is not None:
                assert (prop.hard_min, prop.hard_max) == pytest.approx((info.minimum, info.maximum)), info.name


def test_read_options_gives_the_declared_defaults_on_a_new_scene(installed: dict, settings) -> None:
    properties = installed["addon.properties"]
    GenerateOptions, ApplyOptions = installed["core.generate"].GenerateOptions, installed["addon.apply"].ApplyOptions
    assert properties.read_options(GenerateOptions, settings) == GenerateOptions()
    assert properties.read_options(ApplyOptions, settings) == ApplyOptions()
    settings.meter, settings.baton_hand, settings.smoothing = "6", "LEFT", 0.25
    chosen = properties.read_options(ApplyOptions, settings)
    assert (chosen.retarget.baton_hand, chosen.retarget.smoothing) == ("left", 0.25)
    assert properties.read_options(GenerateOptions, settings).meter == 6
