"""The one build step pyproject.toml cannot declare: the shipped policies and translations.

They stay at the repository's top level, where staff and translators find them (`policies/`,
`locales/`), and setuptools only packs files found inside a package.  So the wheel's build
copies them into the package as `gateway/_shipped/policies` and `gateway/_shipped/locales`,
which `gateway.shipped` reads when no checkout is around.  An editable install (`make`) copies
nothing: it reads the checkout's own folders, so an edit there shows at once.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("policies", "locales")  # gateway.shipped.SHIPPED


class BuildWithShipped(build_py):
    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            for name in SHIPPED:
                self.copy_tree(name, str(Path(self.build_lib, "gateway", "_shipped", name)))


setup(cmdclass={"build_py": BuildWithShipped})
