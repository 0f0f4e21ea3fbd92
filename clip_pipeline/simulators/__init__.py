"""Loopback simulators of the Kling, Veo (Vertex AI express) and Runway APIs, for tests and demos.

Each serves its provider's documented endpoints, checks auth against the key the provider's
settings hold, walks tasks through the provider's statuses, renders real videos with the local
generators (with the provider's duration habits) and injects faults on request (see Faults).
"""
