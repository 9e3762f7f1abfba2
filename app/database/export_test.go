package database

import "database/sql/driver"

// PreparingConnector is preparingConnector, with room for size statements
// per connection, for the tests.
func PreparingConnector(c driver.Connector, size int) driver.Connector {
	return preparingConnector{Connector: c, size: size}
}
