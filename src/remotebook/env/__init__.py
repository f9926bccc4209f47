"""The project's environment on the server: packages, wheels, durable-outputs extensions."""
