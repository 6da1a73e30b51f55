"""Evaluation: protocol rules and plan checks applied to DVH results."""
