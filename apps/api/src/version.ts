/** The service's version, as the CapabilityStatement and the OpenAPI document give it (package.json says the same; a test checks). */
export const SERVICE_VERSION = '0.1.0';
