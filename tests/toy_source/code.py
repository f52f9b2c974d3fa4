# the toy analysis' 'source', hashed into its code version
