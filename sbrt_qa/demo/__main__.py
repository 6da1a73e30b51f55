"""Print the folder of the shipped demo plan: ``sbrt-qa check "$(python -m sbrt_qa.demo)"``."""

from . import demo_folder

print(demo_folder())
