/** The largest request body the API reads, in bytes, unless told otherwise (AppOptions.maxBodyBytes). */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** The largest file upload, in bytes (AppOptions.maxFileBytes, DRYDOCK_MAX_FILE_BYTES): it streams to the lease. */
export const DEFAULT_MAX_FILE_BYTES = 1024 * 1024 * 1024;
