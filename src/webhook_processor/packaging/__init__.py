"""`whp aws build`: the Lambda package (lambda_zip) and the wheels it is made of (wheels)."""
