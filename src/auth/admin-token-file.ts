/** The file in DRYDOCK_HOME that holds the first admin token (0600); the CLI reads it when no token is given. */
export const ADMIN_TOKEN_FILE = "admin.token";
