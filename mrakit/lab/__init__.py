"""The embedded lab: loopback HTTPS twins of Expressway and CUCM, with their own PKI."""
