"""Loopback stand-ins for services this machine cannot reach: a CDN and the AI providers' APIs."""
