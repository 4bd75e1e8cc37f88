import os
import sys

# The recipes in examples/ are scripts for people, not a package: their tests import them by name.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "examples"))
