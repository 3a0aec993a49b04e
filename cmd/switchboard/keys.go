package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-health/switchboard/hub/config"
)

func keysCmd() *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "Manage the seal and HMAC keys"}
	keys.AddCommand(&cobra.Command{
		Use:   "generate",
		Short: "Print a new seal key and HMAC key as environment assignments",
		Long: `Print fresh secrets. To rotate the seal key, put the new key first in
SWITCHBOARD_SEAL_KEYS and keep the old one after it until the queue holds
nothing sealed under it; removing a key shreds what is still sealed with it.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, m, err := config.NewKeySpecs(time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "SWITCHBOARD_SEAL_KEYS=%s\nSWITCHBOARD_HMAC_KEY=%s\n", s, m)
			return nil
		},
	})
	return keys
}
